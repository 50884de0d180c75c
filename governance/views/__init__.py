"""Server-rendered pages of the governance app: sign-in, team reports, flag review, admin pages."""
