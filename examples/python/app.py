import sys

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    # sys.prefix tells the test which interpreter answered: the slug's own, not the machine's.
    return f"Hello from Python {sys.version.split()[0]} at {sys.prefix}\n"
