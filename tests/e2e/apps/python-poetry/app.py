import sys

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return f"Hello from Poetry on Python {sys.version.split()[0]} at {sys.prefix}\n"
