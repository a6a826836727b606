"""Who is calling: API clients (OAuth2), merchant admins (JWT) and, later, browser sessions."""
