from connect.cli import main

main()
