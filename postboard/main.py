"""`uvicorn postboard.main:app`: the app as configured by the environment."""

from postboard.app import create_app
from postboard.config import Settings

app = create_app(Settings())
