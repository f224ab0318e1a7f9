enum _PlaceholderWardenPKI {}
