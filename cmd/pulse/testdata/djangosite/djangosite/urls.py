from django.urls import include, path

from shop import views

urlpatterns = [
    path("", views.home, name="home"),
    path("about/", views.about, name="about"),
    path("", include("django_prometheus.urls")),  # /metrics
]
