"""The only code that changes cloud resources: write tags (Claim), stop, terminate (the tag
enforcement ladder and the idle flow). Everything here is called by a job or a button listener
that has already decided, re-read the resource and will audit the outcome; nothing here
decides or records anything.
"""
