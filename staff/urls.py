from django.urls import path

from staff import views

app_name = "staff"

urlpatterns = [
    path("enrol/", views.otp_enrol, name="otp_enrol"),
]
