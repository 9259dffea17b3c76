from nextread.cli import main

main()
