from django.urls import include, path

from privacyops.api import api
from privacyops.execution import views as execution_views
from privacyops.privacy_center import views as privacy_center_views
from privacyops.web import tokens as web_tokens
from privacyops.web import views as web_views

urlpatterns = [
    path("", web_views.home, name="home"),
    path("login/", web_views.login_view, name="login"),
    path("logout/", web_views.logout_view, name="logout"),
    path("account/", web_views.account, name="account"),
    path("account/tokens/", web_tokens.token_list, name="account-tokens"),
    path("account/tokens/<int:token_id>/revoke/", web_tokens.token_revoke_view,
         name="account-token-revoke"),
    path("api/v1/", api.urls),
    path(".well-known/privacyops/receipt-key", execution_views.receipt_key, name="receipt-key"),
    path("downloads/<str:token>/", execution_views.artifact_download, name="artifact-download"),
    path("platform/privacy/", include("privacyops.web.platform_urls")),
    # Django's set_language: the public pages' language switcher posts here.
    path("i18n/", include("django.conf.urls.i18n")),
    path("privacy/", include("privacyops.intake.urls")),
    path("privacy", privacy_center_views.center_for_host),
    path("privacy/", include("privacyops.privacy_center.urls")),
    path("workspace/<slug:slug>/gdpr/", include("privacyops.workspace.urls")),
    path("platform/requests/", include("privacyops.intake.platform_urls")),
    path("platform/tenants/", include("privacyops.tenancy.urls")),
    path("", include("privacyops.manual.urls")),
]
