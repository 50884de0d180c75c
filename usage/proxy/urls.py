from django.urls import path

from usage.proxy import feedback, views

urlpatterns = [
    path("chat/completions", views.chat_completions, name="proxy-chat-completions"),
    path("completions", views.completions, name="proxy-completions"),
    path("embeddings", views.embeddings, name="proxy-embeddings"),
    path("responses", views.responses, name="proxy-responses"),
    path("models", views.models_list, name="proxy-models"),
    path("feedback", feedback.feedback, name="proxy-feedback"),
]
