"""The browser kiosk at /kiosk-simulator/ (SPEC §9): routed only when KIOSK_SIMULATOR_ENABLED.

The views check the setting on every request as well, so a server whose settings turn the
simulator off answers 404 for everything here whichever way the URLs were loaded.
"""

from django.conf import settings
from django.urls import path

from simulators.kiosk_browser import views

app_name = "kiosk_simulator"

urlpatterns = (
    [
        path("", views.home, name="home"),
        path("gyosei/", views.gyosei, name="gyosei"),
        path("credential/", views.credential, name="credential"),
        path("card/", views.card, name="card"),
        path("pin/", views.pin, name="pin"),
        path("offers/", views.offers, name="offers"),
        path("offers/<slug:cert_type>/", views.options, name="options"),
        path("confirm/", views.confirm, name="confirm"),
        path("printing/", views.printing, name="printing"),
        path("document.pdf", views.document, name="document"),
        path("complete/", views.complete, name="complete"),
        path("remove-card/", views.remove_card, name="remove_card"),
        path("done/", views.done, name="done"),
        path("history/", views.history, name="history"),
        path("cancel/", views.cancel, name="cancel"),
        path("assets/<str:name>", views.asset, name="asset"),
    ]
    if settings.KIOSK_SIMULATOR_ENABLED
    else []
)
