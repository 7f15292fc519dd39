from postboard.cli import main

main()
