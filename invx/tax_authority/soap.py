"""AT's SeriesWS envelopes: written exactly as the service expects, read by local names.

Requests carry a namespace-qualified operation element whose children are unqualified, in
the schema's field order. Responses are parsed without depending on prefixes, and never with
a parser that resolves entities (defusedxml).
"""
from xml.sax.saxutils import escape

from defusedxml import ElementTree as SafeTree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
AT_NS = "http://at.gov.pt/"
WSS_NS = "http://schemas.xmlsoap.org/ws/2002/12/secext"

# Each operation's request fields, in the schema's order.
REQUEST_FIELDS = {
    "registarSerie": ("serie", "tipoSerie", "classeDoc", "tipoDoc", "numInicialSeq",
                      "dataInicioPrevUtiliz", "numCertSWFatur", "meioProcessamento"),
    "consultarSeries": ("serie", "tipoSerie", "classeDoc", "tipoDoc", "codValidacaoSerie",
                        "dataRegistoDe", "dataRegistoAte", "estado", "meioProcessamento"),
    "anularSerie": ("serie", "classeDoc", "tipoDoc", "codValidacaoSerie", "motivo",
                    "declaracaoNaoEmissao"),
    "finalizarSerie": ("serie", "classeDoc", "tipoDoc", "codValidacaoSerie",
                       "seqUltimoDocEmitido", "justificacao"),
}
INFO_SERIE_FIELDS = (
    "serie", "tipoSerie", "classeDoc", "tipoDoc", "numInicialSeq", "numFinalSeq",
    "dataInicioPrevUtiliz", "seqUltimoDocEmitido", "meioProcessamento", "numCertSWFatur",
    "codValidacaoSerie", "dataRegisto", "estado", "motivoEstado", "justificacao", "dataEstado",
    "nifComunicou")
SECURITY_FIELDS = ("Username", "Password", "Nonce", "Created")


class SoapFault(Exception):
    """A SOAP Fault: ``faultcode``, ``faultstring`` and the text of ``detail``."""

    def __init__(self, faultcode, faultstring, detail=""):
        super().__init__(f"{faultcode}: {faultstring}")
        self.faultcode, self.faultstring, self.detail = faultcode, faultstring, detail


class MalformedMessage(ValueError):
    """Not a SOAP message of the expected shape."""


def _text(value):
    # ASCII out, everything else as numeric character references, as AT writes.
    return escape(str(value)).encode("ascii", "xmlcharrefreplace").decode("ascii")


def _children(fields, order, prefix=""):
    return "".join(f"<{prefix}{name}>{_text(fields[name])}</{prefix}{name}>"
                   for name in order if fields.get(name) is not None)


def build_request(operation, fields, security=None):
    """The request envelope for ``operation`` with ``fields`` (None values are left out)."""
    header = ""
    if security is not None:
        token = _children(security, SECURITY_FIELDS, prefix="wss:")
        header = (f'<S:Header><wss:Security xmlns:wss="{WSS_NS}"><wss:UsernameToken>{token}'
                  "</wss:UsernameToken></wss:Security></S:Header>")
    body = _children(fields, REQUEST_FIELDS[operation])
    return (f'<?xml version="1.0" encoding="UTF-8"?><S:Envelope xmlns:S="{SOAP_ENV}">{header}'
            f'<S:Body><ns0:{operation} xmlns:ns0="{AT_NS}">{body}</ns0:{operation}>'
            "</S:Body></S:Envelope>").encode("ascii")


def build_response(operation, infos, code, message):
    """A response envelope in AT's shape: ``infoSerie`` elements, then ``infoResultOper``."""
    resp = "consultarSeriesResp" if operation == "consultarSeries" else f"{operation}Resp"
    series = "".join(f"<infoSerie>{_children(info, INFO_SERIE_FIELDS)}</infoSerie>"
                     for info in infos)
    result = (f"<infoResultOper><codResultOper>{int(code)}</codResultOper>"
              f"<msgResultOper>{_text(message)}</msgResultOper></infoResultOper>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><S:Envelope xmlns:S="{SOAP_ENV}"><S:Body>'
            f'<ns0:{operation}Response xmlns:ns0="{AT_NS}"><{resp}>{series}{result}</{resp}>'
            f"</ns0:{operation}Response></S:Body></S:Envelope>").encode("ascii")


def build_fault(faultcode, faultstring, detail=""):
    return (f'<?xml version="1.0" encoding="UTF-8"?><S:Envelope xmlns:S="{SOAP_ENV}"><S:Body>'
            f"<S:Fault><faultcode>{_text(faultcode)}</faultcode>"
            f"<faultstring>{_text(faultstring)}</faultstring>"
            f"<detail>{_text(detail)}</detail></S:Fault></S:Body></S:Envelope>").encode("ascii")


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _child(element, name):
    return next((c for c in element if _local(c.tag) == name), None)


def _fields(element):
    return {_local(c.tag): (c.text or "").strip() for c in element}


def _body(data):
    try:
        root = SafeTree.fromstring(data)
    except Exception as error:  # ParseError, or defusedxml refusing entities/DTDs
        raise MalformedMessage(f"not XML: {error.__class__.__name__}") from None
    body = _child(root, "Body") if _local(root.tag) == "Envelope" else None
    if body is None or not len(body):
        raise MalformedMessage("no SOAP Body")
    return root, body[0]


def _all_text(element):
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def _fault(element):
    return SoapFault(_all_text(_child(element, "faultcode")),
                     _all_text(_child(element, "faultstring")),
                     _all_text(_child(element, "detail")))


def parse_response(data, operation):
    """AT's answer to ``operation``: (list of infoSerie dicts, result code, message).

    Raises SoapFault for a Fault and MalformedMessage for anything else unexpected.
    """
    _, payload = _body(data)
    if _local(payload.tag) == "Fault":
        raise _fault(payload)
    if _local(payload.tag) != f"{operation}Response" or not len(payload):
        raise MalformedMessage(f"expected {operation}Response, got {_local(payload.tag)}")
    resp = payload[0]
    result = _child(resp, "infoResultOper")
    if result is None or _child(result, "codResultOper") is None:
        raise MalformedMessage("no infoResultOper")
    fields = _fields(result)
    try:
        code = int(fields["codResultOper"])
    except ValueError:
        raise MalformedMessage("codResultOper is not a number") from None
    message = " ".join(fields.get("msgResultOper", "").split())
    infos = [_fields(c) for c in resp if _local(c.tag) == "infoSerie"]
    return infos, code, message


def parse_request(data):
    """A request as the service reads it: (operation, fields, security header fields)."""
    root, operation = _body(data)
    if operation.tag not in {f"{{{AT_NS}}}{name}" for name in REQUEST_FIELDS}:
        raise MalformedMessage(f"unknown operation {operation.tag}")
    for child in operation:
        if child.tag.startswith("{"):
            raise MalformedMessage(f"{child.tag}: the operation's children are unqualified")
    header = _child(root, "Header")
    security = {}
    token = None
    if header is not None:
        sec = next((c for c in header if c.tag == f"{{{WSS_NS}}}Security"), None)
        token = _child(sec, "UsernameToken") if sec is not None else None
    if token is not None:
        security = {_local(c.tag): (c.text or "").strip() for c in token}
    return _local(operation.tag), _fields(operation), security

