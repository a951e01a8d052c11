"""Optional bridges to other libraries; each module imports its library on first use."""
