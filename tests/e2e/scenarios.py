"""The test domains: what each publishes, and what mta-stsd must answer for it.

Each Scenario adds one domain to the World. `match` is the expected match= list for
an answer "OK secure match=..." (None: "NOTFOUND "), `strict` the same for zone
strict (strict_testing: true), and `fetches` the number of policy fetches nginx must
log for the domain after the lookups (None: not checked).
"""

ID = "v=STSv1; id=20240101T000000"


def policy(mode="enforce", mx=(), max_age="86400", extra=(), eol="\n", final_eol=True,
           order=("version", "mode", "mx", "max_age", "extra")):
    """A policy body; parts appear in the given order, each line ended by eol."""
    parts = {
        "version": ["version: STSv1"],
        "mode": ["mode: %s" % mode] if mode is not None else [],
        "mx": ["mx: %s" % m for m in mx],
        "max_age": ["max_age: %s" % max_age] if max_age is not None else [],
        "extra": list(extra),
    }
    lines = [line for key in order for line in parts[key]]
    body = eol.join(lines)
    if final_eol:
        body += eol
    return body.encode("utf-8")


def padded_policy(name, size):
    """A valid enforce policy padded with unknown keys to exactly size bytes."""
    body = policy(mx=["mail.%s" % name])
    line = 0
    while size - len(body) > 200:
        body += b"x-pad-%05d: %s\n" % (line, b"p" * 100)
        line += 1
    last = size - len(body) - len(b"x-last: \n")
    return body + b"x-last: " + b"p" * last + b"\n"


class Scenario:
    def __init__(self, name, what, match=None, strict="same", fetches=None, query=True, **domain):
        self.name = name
        self.what = what
        self.match = match
        # Zone strict answers testing like enforce; everything else answers as the default zone.
        self.strict = match if strict == "same" else strict
        self.fetches = fetches
        self.query = query  # False: used only by a dedicated test (cache, timing)
        self.domain = domain


def _enf(name, **kw):
    return dict(txt=[ID], policy=policy(mx=["mail.%s" % name]), **kw)


def scenarios(refused_addr="127.0.0.11", hang_addr="127.0.0.12"):
    """refused_addr: nothing listens on its port 443; hang_addr: accepts and never answers."""
    s = []

    def add(name, what, match=None, **kw):
        s.append(Scenario(name, what, match, **kw))

    # ----- valid policies ---------------------------------------------------------
    add("enforce.test", "enforce, one mx", ["mail.enforce.test"], **_enf("enforce.test"))
    add("multi.test", "several mx: wildcard, duplicates, upper case, trailing dot",
        ["mx1.multi.test", ".backup.multi.test", "mx2.multi.test", "mx3.multi.test"],
        txt=[ID], policy=policy(mx=["mx1.multi.test", "*.backup.multi.test", "MX2.Multi.Test",
                                    "mx1.multi.test", "mx2.multi.test.", "Mx3.MULTI.test."]))
    add("wildcard.test", "wildcard mx only", [".wildcard.test"], txt=[ID],
        policy=policy(mx=["*.wildcard.test"]))
    add("testing.test", "mode testing", None, strict=["mx.testing.test"], txt=[ID],
        policy=policy(mode="testing", mx=["mx.testing.test"]))
    add("none.test", "mode none", None, txt=[ID], policy=policy(mode="none"))
    add("crlf.test", "CRLF line ends", ["mail.crlf.test", "backup.crlf.test"], txt=[ID],
        policy=policy(mx=["mail.crlf.test", "backup.crlf.test"], eol="\r\n"))
    add("blank.test", "blank lines and unknown keys", ["mail.blank.test"], txt=[ID],
        policy=b"version: STSv1\n\nmode: enforce\nx-unknown: some value: with colon\n\n"
               b"mx: mail.blank.test\nfoo: bar\nmax_age: 604800\n\n")
    add("nofinaleol.test", "last line without line end", ["mail.nofinaleol.test"], txt=[ID],
        policy=policy(mx=["mail.nofinaleol.test"], final_eol=False))
    add("reorder.test", "fields in another order (order is not significant)",
        ["mail.reorder.test"], txt=[ID],
        policy=policy(mx=["mail.reorder.test"], order=("mx", "max_age", "mode", "version",
                                                        "extra")))
    add("firstwins.test", "duplicate mode: the first one wins (RFC 8461 3.2)",
        ["mail.firstwins.test"], txt=[ID],
        policy=policy(mx=["mail.firstwins.test"], extra=["mode: testing"]))
    add("nospace.test", "no space after the colons", ["mail.nospace.test"], txt=[ID],
        policy=b"version:STSv1\nmode:enforce\nmx:mail.nospace.test\nmax_age:86400\n")
    add("maxagemax.test", "max_age 31557600 (the maximum)", ["mail.maxagemax.test"], txt=[ID],
        policy=policy(mx=["mail.maxagemax.test"], max_age="31557600"))
    add("charset.test", "content type text/plain; charset=utf-8", ["mail.charset.test"],
        content_type="text/plain; charset=utf-8", **_enf("charset.test"))
    add("bigok.test", "body of 60 KiB", ["mail.bigok.test"], txt=[ID],
        policy=padded_policy("bigok.test", 60 * 1024))
    add("bücher.test", "IDN domain (xn--bcher-kva.test)", ["mail.xn--bcher-kva.test"],
        txt=[ID], policy=policy(mx=["mail.xn--bcher-kva.test"]))

    # ----- invalid policies -------------------------------------------------------
    add("maxage.test", "max_age 31557601 (invalid)", txt=[ID],
        policy=policy(mx=["mail.maxage.test"], max_age="31557601"))
    add("nomx.test", "enforce without mx (invalid)", txt=[ID], policy=policy(mx=[]))
    add("modecase.test", "mode: Enforce (invalid, case-sensitive)", txt=[ID],
        policy=policy(mode="Enforce", mx=["mail.modecase.test"]))
    add("barestar.test", "mx: * (invalid)", txt=[ID], policy=policy(mx=["*"]))
    add("version2.test", "version: STSv2 (invalid)", txt=[ID],
        policy=policy(mx=["mail.version2.test"]).replace(b"STSv1", b"STSv2"))
    add("empty.test", "empty body", txt=[ID], policy=b"")

    # ----- TXT record -------------------------------------------------------------
    add("notxt.test", "no TXT record (policy file present)", fetches=0,
        policy=policy(mx=["mail.notxt.test"]))
    add("twotxt.test", "two STSv1 TXT records", fetches=0,
        txt=["v=STSv1; id=1", "v=STSv1; id=2"], policy=policy(mx=["mail.twotxt.test"]))
    add("stsv10.test", "only v=STSv10 (not STSv1)", fetches=0, txt=["v=STSv10; id=1"],
        policy=policy(mx=["mail.stsv10.test"]))
    add("noid.test", "TXT without id", fetches=0, txt=["v=STSv1;"],
        policy=policy(mx=["mail.noid.test"]))
    add("othertxt.test", "STSv1 TXT next to an unrelated TXT", ["mail.othertxt.test"],
        txt=["v=spf1 -all", "v=STSv1; id=5"], policy=policy(mx=["mail.othertxt.test"]))
    add("split.test", "TXT record split in two strings", ["mail.split.test"],
        txt=[("v=STSv1; ", "id=20240101")], policy=policy(mx=["mail.split.test"]))
    add("cname.test", "_mta-sts is a CNAME to another domain's record", ["mail.cname.test"],
        extra_records=("_mta-sts.cname.test. 300 IN CNAME _mta-sts.enforce.test.",),
        policy=policy(mx=["mail.cname.test"]))

    # ----- fetch failures ---------------------------------------------------------
    add("notfound.test", "policy URL answers 404", txt=[ID])
    add("redirect.test", "policy URL answers 301 (redirects are not followed)",
        location="https://mta-sts.enforce.test/.well-known/mta-sts.txt", **_enf("redirect.test"))
    add("status500.test", "policy URL answers 500", status=500, **_enf("status500.test"))
    add("html.test", "content type text/html", content_type="text/html", **_enf("html.test"))
    add("big.test", "body of 70 KiB (> 64 KiB)", txt=[ID],
        policy=padded_policy("big.test", 70 * 1024))
    add("selfsigned.test", "self-signed certificate", cert="selfsigned", **_enf("selfsigned.test"))
    add("wrongname.test", "certificate for another name", cert="wrongname",
        **_enf("wrongname.test"))
    add("expired.test", "expired certificate", cert="expired", **_enf("expired.test"))
    add("refused.test", "connection refused (%s)" % refused_addr, https_addr=refused_addr,
        **_enf("refused.test"))
    add("noa.test", "no A record for mta-sts.noa.test", mta_sts_host=False, **_enf("noa.test"))

    # ----- used by dedicated tests only -------------------------------------------
    add("hang.test", "policy host accepts and never answers", query=False,
        https_addr=hang_addr, **_enf("hang.test"))
    add("cache.test", "answered from cache while nginx is down", ["mail.cache.test"],
        query=False, **_enf("cache.test"))
    add("coldwhiledown.test", "cold lookup while nginx is down", query=False,
        **_enf("coldwhiledown.test"))
    add("burst.test", "50 concurrent cold queries", ["mail.burst.test"], query=False,
        **_enf("burst.test"))
    add("neg404.test", "negative cache for a 404", query=False, txt=[ID])
    add("ctl.test", "mta-stsctl resolve", ["mail.ctl.test"], query=False, **_enf("ctl.test"))
    return s


def ok_answer(match, domain, zone="default", policy_body=None, mx=None):
    """Expected payload for an OK answer in a zone (default, strict, nosni, tlsrpt)."""
    out = "OK secure match=" + ":".join(match)
    if zone != "nosni":
        out += " servername=hostname"
    if zone == "tlsrpt":
        out += " policy_type=sts policy_domain=%s" % domain
        out += "".join(" mx_host_pattern=%s" % m for m in mx)
        text = policy_body.decode("utf-8")
        for line in text.split("\n"):
            line = line[:-1] if line.endswith("\r") else line
            if line:
                out += " { policy_string = %s }" % line
    return out


def enforce_answer(domain, mx=None):
    """The default zone's answer for an enforce policy whose one mx is mx (mail.DOMAIN)."""
    return ok_answer([mx or "mail." + domain], domain)
