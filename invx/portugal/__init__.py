"""The Portuguese rules invx applies: NIFs, series names, document types and their AT
codes, validation codes and the ATCUD, and Lisbon's calendar. Pure functions and tables:
nothing here touches the database or HTTP."""
