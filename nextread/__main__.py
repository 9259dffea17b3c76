from nextread.cli import app

app(prog_name="nextread")
