"""Who may send what: which hosts are served, rate limits, and what a request's events may claim.

Before anything else, a request must name a host the service answers for
(leadrelay.trust.hosts), and is throttled by its rate limits (leadrelay.trust.rate_limits).
`/lr/c` (which sets click-id cookies), an event's status and the sandbox API refuse a
request another site sent (leadrelay.trust.cross_site).

What the events may claim is decided once per request, before routing. A door (the
collect endpoint; the drop-in vendor APIs reuse its server keys) says what it knows
about the caller: its signed visitor, whether it holds a server key, its click-id
cookies. `Trust` (leadrelay.trust.standing) decides what the caller's events may claim:

- which dialects: a server's dialects (dub, pimms: the vendors' own API calls) need a
  server key (leadrelay.trust.server_keys);
- which click ids: a key holder's as it sends them, since a backend vouches for its own;
  a browser's only those the store saw at `{prefix}/c` for the same signed visitor, unless
  `click_verification` is "off" (leadrelay.trust.clicks).

The decision, a `Standing`, is written with each event (arrival.Seen.verified_clicks) and
applied by arrival.enrich whenever the event is mapped, at intake and at every later read:
routing and deliveries never see a claim the layer did not grant. What it held back, and an
event whose own clock is far off (leadrelay.trust.timestamps), are marks on the stored event.
"""
