"""The audit log has no admin: auditors read it at /audit/ (oversight/views.py).

The login records of django-axes are records of the same kind: their admin is narrowed here, after
axes registered its own (INSTALLED_APPS lists axes first), see saga_konbini/axes_admin.py.
"""

from saga_konbini.axes_admin import axes_admin_restrict

axes_admin_restrict()
