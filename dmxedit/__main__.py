from dmxedit.cli.app import main

main()
