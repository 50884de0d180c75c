"""Employee web pages of the usage app."""

from django.urls import path

from usage import views

app_name = "usage"

urlpatterns = [
    path("me/", views.my_usage, name="my_usage"),
    path("me/keys/", views.my_key_create, name="my_key_create"),
    path("me/keys/<int:key_id>/revoke/", views.my_key_revoke, name="my_key_revoke"),
    path("me/calls/<str:request_id>/rate/", views.my_call_rate, name="my_call_rate"),
    path("me/sessions/<path:session_id>/", views.my_session, name="my_session"),
]
