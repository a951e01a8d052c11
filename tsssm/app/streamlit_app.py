"""The script ``tsssm app`` hands to ``streamlit run``."""
from tsssm.app.main import main

main()
