"""Registering an InvoiceXpress sequence's series with the Tax Authority (AT): the
workflow (register, resume, compensate), the lease that keeps two registrations of one
sequence apart, and the end of a series (finish, annul). It speaks to AT only through a
``tax_authority`` adapter, and knows nothing of HTTP or of InvoiceXpress's error codes."""
