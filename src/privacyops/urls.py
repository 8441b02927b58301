from django.urls import path

from privacyops.api import api
from privacyops.web import views as web_views

urlpatterns = [
    path("", web_views.home, name="home"),
    path("login/", web_views.login_view, name="login"),
    path("logout/", web_views.logout_view, name="logout"),
    path("api/v1/", api.urls),
]
