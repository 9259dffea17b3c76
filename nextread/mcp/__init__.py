"""MCP server: the librarian's tools for AI assistants (stdio and streamable HTTP at /mcp)."""
