"""GeoReport v2 (Open311) documents, as the spec names their fields (wiki.open311.org/GeoReport_v2)."""
from __future__ import annotations

from pydantic import BaseModel, Field


class Service(BaseModel):
    service_code: str = Field(description="the queue id of the domain")
    service_name: str = Field(description="the domain (one of the 15 first-level domains)")
    description: str
    metadata: bool = Field(description="always false: a request needs no attributes")
    type: str = Field(description="realtime: a request becomes a ticket at once")
    keywords: str = Field(description="the domain's second-level categories, comma-separated")
    group: str = Field(description="the department the domain's tickets go to")


class ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[dict] = Field(default_factory=list)


class RequestCreated(BaseModel):
    service_request_id: str
    service_notice: str | None = Field(description="where the request went")
    account_id: str | None = None


class ServiceRequest(BaseModel):
    """A request's progress, and nothing of its content: no description, address, contact or reply."""

    service_request_id: str
    status: str = Field(description="open or closed")
    status_notes: str | None
    service_name: str | None = Field(description="the ticket's domain now (an official may have relabeled it)")
    service_code: str | None
    agency_responsible: str | None = Field(description="the department handling it")
    service_notice: str | None = None
    requested_datetime: str | None
    updated_datetime: str | None
    expected_datetime: str | None = Field(description="when it is due, once tickets have a time limit")


class Open311Error(BaseModel):
    code: int
    description: str
