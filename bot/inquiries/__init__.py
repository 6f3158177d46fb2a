"""Several inquiries in one bot: their metadata, the catalogue, and each chat's choice.

A corpus folder holds one subfolder per inquiry (each with its documents and an optional
``inquiry.json``), or is itself one inquiry when it has no subfolders. The catalogue knows
every inquiry's metadata from the start and loads an inquiry's documents, structure and
search index the first time a chat needs them.
"""

from bot.inquiries.catalogue import Catalogue, LoadedInquiry, discover
from bot.inquiries.model import Inquiry, InquiryStatus

__all__ = ["Catalogue", "Inquiry", "InquiryStatus", "LoadedInquiry", "discover"]
