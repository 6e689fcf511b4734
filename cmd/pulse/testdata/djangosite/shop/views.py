from django.conf import settings
from django.shortcuts import render


def home(request):
    return render(request, "shop/home.html", {"pulse_url": settings.PULSE_URL, "page": "Home"})


def about(request):
    return render(request, "shop/home.html", {"pulse_url": settings.PULSE_URL, "page": "About"})
