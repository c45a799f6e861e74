"""iiic.signal"""
