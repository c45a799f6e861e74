"""iiic.predict"""
