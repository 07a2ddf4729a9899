"""Election observers: organisations' applications, the commission's accreditation decisions,
badges and their public check, and observers' copies of protocols compared with the official
ones (issue 17 items 1 and 4). Pages are in ``secki.staff.observers`` and
``secki.portal.observers``."""
