from respdyn.cli import main

main()
