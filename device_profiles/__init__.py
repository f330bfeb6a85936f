"""Board catalog, profile validation, static cost model and USB detection of boards."""

from device_profiles.catalog import get_profile, load_catalog, user_profile_dir
from device_profiles.errors import ModelFileError, ProfileError
from device_profiles.profile import Budgets, CostCoefficients, Link, Power, Profile, load_profile

__all__ = [
    "Budgets", "CostCoefficients", "Link", "ModelFileError", "Power", "Profile", "ProfileError",
    "get_profile", "load_catalog", "load_profile", "user_profile_dir",
]
