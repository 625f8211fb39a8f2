"""Config loading: ``load_config(path)`` returns a validated ``Config`` or raises ``ConfigError``."""

from exporter.config.loader import ConfigError, load_config
from exporter.config.model import Config

__all__ = ["Config", "ConfigError", "load_config"]
