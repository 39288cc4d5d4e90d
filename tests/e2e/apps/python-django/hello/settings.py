import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("SECRET_KEY", "only-for-the-e2e-test")
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.staticfiles", "hello"]
ROOT_URLCONF = "hello.urls"
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
