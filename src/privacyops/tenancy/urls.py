"""Platform → Tenants."""

from django.urls import path

from privacyops.tenancy import views

app_name = "tenants"

urlpatterns = [
    path("", views.tenant_list, name="list"),
    path("staff/", views.staff_create_view, name="staff-create"),
    path("staff/<int:user_id>/deactivate/", views.staff_deactivate_view, name="staff-deactivate"),
    path("<int:tenant_id>/", views.tenant_detail, name="detail"),
    path("<int:tenant_id>/edit/", views.tenant_edit, name="edit"),
    path("<int:tenant_id>/deactivate/", views.tenant_active, {"active": False},
         name="deactivate"),
    path("<int:tenant_id>/activate/", views.tenant_active, {"active": True}, name="activate"),
    path("<int:tenant_id>/members/", views.member_add_view, name="member-add"),
    path("<int:tenant_id>/members/<int:user_id>/role/", views.member_role_view,
         name="member-role"),
    path("<int:tenant_id>/members/<int:user_id>/remove/", views.member_remove_view,
         name="member-remove"),
    path("<int:tenant_id>/systems/", views.system_add_view, name="system-add"),
    path("<int:tenant_id>/systems/<int:system_id>/remove/", views.system_remove_view,
         name="system-remove"),
    path("<int:tenant_id>/systems/<int:system_id>/health/", views.system_health_view,
         name="system-health"),
]
