"""Staff pages only on the staff host names (``STAFF_HOSTS``): the city's internal network.

The clerks' admin and the auditors' views hold personal data and the means to change who may issue
certificates; the public host name (kiosks, /verify/) has no business serving them. With
``STAFF_HOSTS`` set, a request for a staff path on any other host is answered 404 exactly like a
path that does not exist: nothing tells an outsider that the admin lives elsewhere. This runs
before sessions and authentication, so no admin code, session lookup or login lockout is reached
for the wrong host. Empty ``STAFF_HOSTS`` (the default) serves staff pages on every allowed host.

The language switch (/i18n/) is not a staff path: the public /verify/ page uses it too. Nor is
the audit log's public face (/audit/transparency/): witnesses outside the city read it under the
public name (SPEC §6).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.http.request import split_domain_port

# URL prefixes of saga_konbini/urls.py that only staff use, and the public pages inside them
# (oversight/urls.py: the signed checkpoint and the consistency proofs, no login, no personal data).
STAFF_PATH_PREFIXES = ("/admin/", "/audit/")
PUBLIC_PATH_PREFIXES = ("/audit/transparency/",)


def is_staff_path(path: str) -> bool:
    if path.startswith(PUBLIC_PATH_PREFIXES):
        return False
    # "/admin" without its slash too: CommonMiddleware would otherwise answer it with a redirect
    # to "/admin/", which tells the outsider that the page exists.
    return any(path.startswith(prefix) or path == prefix.rstrip("/") for prefix in STAFF_PATH_PREFIXES)


def is_staff_host(request: HttpRequest) -> bool:
    """Whether the request came in on a staff host name (any host when ``STAFF_HOSTS`` is empty).

    ``get_host`` checks ALLOWED_HOSTS first: a disallowed host is a 400 here, as everywhere.
    """
    staff_hosts = settings.STAFF_HOSTS
    if not staff_hosts:
        return True
    domain, _port = split_domain_port(request.get_host())
    return domain in staff_hosts


class StaffHostMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_staff_path(request.path_info) and not is_staff_host(request):
            # The site's ordinary 404 page, the same as for any unknown path.
            raise Http404
        return self.get_response(request)
