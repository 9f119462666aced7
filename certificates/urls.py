from django.urls import path

from certificates import views

app_name = "certificates"

urlpatterns = [
    # SPEC §8: public verification of an issued certificate.
    path("verify/", views.verify_page, name="verify"),
    path("verify/keys", views.verify_keys, name="verify_keys"),
]
