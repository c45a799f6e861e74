"""iiic.train"""
