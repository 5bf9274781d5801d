"""The one gateway to the warehouse: settings, reading and writing tables."""

from warehouse.gateway import Warehouse, get_warehouse
from warehouse.settings import Settings, get_settings

__all__ = ["Settings", "Warehouse", "get_settings", "get_warehouse"]
