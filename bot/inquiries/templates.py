"""What chat templates see of inquiries: ``inquiry`` (the chat's) and ``inquiries`` (all)."""

from __future__ import annotations

from typing import Any

from bot.services import Services


def inquiry_variables(services: Services) -> dict[str, Any]:
    """Plain data: the chat's inquiry's details, and every inquiry's, with document counts."""
    catalogue = services.inquiries
    current = services.inquiry or (catalogue.default if catalogue else None)
    if current is None:  # a bot built without a catalogue: its one corpus, unnamed
        report = next((d for d in services.corpus.documents if d.meta.kind == "report"), None)
        title = report.meta.title if report else ""
        mine = {"name": "", "title": title, "documents": len(services.corpus.documents)}
        return {"inquiry": mine, "inquiries": [mine]}
    everyone = []
    for inquiry in catalogue or (current,):
        loaded = catalogue.loaded(inquiry.name) if catalogue else None
        documents = len(loaded.corpus.documents) if loaded else inquiry.documents
        everyone.append({**inquiry.template_data(), "documents": documents})
    mine = {**current.template_data(), "documents": len(services.corpus.documents)}
    return {"inquiry": mine, "inquiries": everyone}
