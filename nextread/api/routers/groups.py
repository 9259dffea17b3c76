"""groups."""
from fastapi import APIRouter

router = APIRouter(tags=["groups"])
