"""The ATCUD QR code's text (Portaria 195/2020 and AT's specification of it).

``KEY:value`` fields joined by ``*`` in a fixed order, the optional ones left out when they
do not apply, amounts with two decimals and a point. See
../shared/spec/portugal-document-signature.md, section 3.
"""
from .document_hash import amount

FINAL_CONSUMER = "999999990"
UNKNOWN_COUNTRY = "Desconhecido"
STATUSES = ("N", "S", "A", "R", "F")
TAX_REGIONS = ("PT", "PT-AC", "PT-MA")
# A tax region's block: its amounts in the order of I2..I8 (J2..J8, K2..K8).
TAX_AMOUNTS = ("exempt_base", "reduced_base", "reduced_vat", "intermediate_base",
               "intermediate_vat", "normal_base", "normal_vat")
REGION_LETTERS = ("I", "J", "K")
MAX_REGIONS = len(REGION_LETTERS)


def qr_text(document, fields):
    """The QR code's text. ``document``: the signed document's own values (``issuer_nif``,
    ``document_type``, ``invoice_date`` (a date), ``invoice_no``, ``atcud``,
    ``gross_total``, ``hash_excerpt``, ``certificate_number``); ``fields``: what the request
    gave (``customer_nif``, ``customer_country``, ``status``, ``tax_regions``,
    ``not_subject``, ``stamp_duty``, ``taxes_total``, ``withholding``,
    ``other_information``), amounts as Decimals."""
    parts = [("A", document["issuer_nif"]),
             ("B", fields.get("customer_nif") or FINAL_CONSUMER),
             ("C", fields.get("customer_country") or UNKNOWN_COUNTRY),
             ("D", document["document_type"]),
             ("E", fields.get("status") or "N"),
             ("F", document["invoice_date"].strftime("%Y%m%d")),
             ("G", document["invoice_no"]),
             ("H", document["atcud"])]
    regions = fields.get("tax_regions") or []
    if not regions:
        parts.append(("I1", "0"))
    for letter, region in zip(REGION_LETTERS, regions, strict=False):
        parts.append((f"{letter}1", region["region"]))
        parts += [(f"{letter}{n}", amount(region[name]))
                  for n, name in enumerate(TAX_AMOUNTS, start=2) if region.get(name) is not None]
    parts += _optional(fields, ("L", "not_subject"), ("M", "stamp_duty"))
    parts += [("N", amount(fields["taxes_total"])), ("O", amount(document["gross_total"]))]
    parts += _optional(fields, ("P", "withholding"))
    parts += [("Q", document["hash_excerpt"]), ("R", str(document["certificate_number"]))]
    if fields.get("other_information"):
        parts.append(("S", fields["other_information"]))
    return "*".join(f"{key}:{value}" for key, value in parts)


def _optional(fields, *keys):
    return [(key, amount(fields[name])) for key, name in keys if fields.get(name) is not None]
