"""``{% load stationpage %}``: a station page's parts written by :mod:`secki.portal.stationpage`
(``portal/station.html``, ``portal/parts/station_live.html``)."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from secki.portal import stationpage

register = template.Library()


@register.simple_tag(takes_context=True)
def station_title(context: template.Context) -> SafeString:
    return mark_safe(stationpage.title(context))  # noqa: S308 - escaped where it is written


@register.simple_tag(takes_context=True)
def station_content(context: template.Context) -> SafeString:
    return mark_safe(stationpage.content(context))  # noqa: S308 - escaped where it is written


@register.simple_tag(takes_context=True)
def station_live(context: template.Context) -> SafeString:
    return mark_safe(stationpage.live(context))  # noqa: S308 - escaped where it is written


@register.simple_tag(takes_context=True)
def station_scripts(context: template.Context) -> SafeString:
    return mark_safe(stationpage.scripts(context))  # noqa: S308 - escaped where it is written
