"""The CS manager's Streamlit app: reads only the published marts snapshot."""
