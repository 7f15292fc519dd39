"""Schema migrations, applied by `postboard migrate` and at the start of `postboard serve`."""

from importlib.resources import files

from alembic import command
from alembic.config import Config


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("postboard") / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def upgrade_to_head(database_url: str) -> None:
    """Applies every pending migration. Runs its own event loop: call it outside one."""
    command.upgrade(alembic_config(database_url), "head")
