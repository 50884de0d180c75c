from django.urls import path, re_path

from usage.proxy import feedback, messages, views

urlpatterns = [
    path("chat/completions", views.chat_completions, name="proxy-chat-completions"),
    path("completions", views.completions, name="proxy-completions"),
    path("embeddings", views.embeddings, name="proxy-embeddings"),
    path("responses", views.responses, name="proxy-responses"),
    path("models", views.models_list, name="proxy-models"),
    path("models/<path:model_id>", views.model_retrieve, name="proxy-model"),
    path("feedback", feedback.feedback, name="proxy-feedback"),
    # Anthropic's Messages API (usage/proxy/messages.py); before the catch-all below.
    path("messages", messages.messages, name="proxy-messages"),
    path("messages/count_tokens", messages.count_tokens, name="proxy-messages-count-tokens"),
    # Keep last: any other /v1 path answers 404 in OpenAI's shape; specific routes above it win.
    re_path(r"^(?P<path>.*)$", views.not_found, name="proxy-not-found"),
]
