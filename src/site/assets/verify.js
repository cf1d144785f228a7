// glassbox site: in-browser verification (docs/formats.md section 19). Not written yet.
