import sys

from django.http import HttpResponse
from django.urls import path


def hello(request):
    return HttpResponse(f"Hello from Django on Python {sys.version.split()[0]} at {sys.prefix}\n",
                        content_type="text/plain")


urlpatterns = [path("", hello)]
