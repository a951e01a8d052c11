"""``streamlit run app/tsssm_app.py`` from a source checkout (the code is in tsssm/app/)."""
from tsssm.app.main import main

main()
